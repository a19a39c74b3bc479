"""Terni city centre, V2G: public bidirectional chargers against reverse power flow from PV."""
