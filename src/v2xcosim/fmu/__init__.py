"""The Modelica → FMI 2.0 FMU pipeline, safe FMU handling and FMU regression checks."""
