"""The local flexibility market around the LFMP: its cycle and its participants.

:mod:`.cycle` runs market sessions on a step grid (opening, gate closure, delivery, settlement
and the revenue split) for any buyer and providers; :mod:`.participants` holds the DSO as buyer
and the providers (an EMSP selling its charging sessions' flexibility, a stationary battery).
The matching and settlement rules themselves are :mod:`v2xcosim.domain.lfmp`.
"""
