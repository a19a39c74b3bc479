"""The Modelica → FMI 2.0 FMU pipeline, safe FMU handling, FMU fleets and FMU regression checks."""
