"""Porto airport, V2B: parked EVs support the terminal's energy balance (issue 14).

Inputs built offline so far: the airport's synthetic weather (:mod:`.weather`), the
Portuguese MV time-of-use tariff (:mod:`.tariff`, on the generic engine
:mod:`v2xcosim.domain.tariff`), the airport's MV network with its terminal substations and the
long-term car park's chargers (:mod:`.network`), the car park's stays and parking manager
(:mod:`.parking`), the EVs and their users' choices (:mod:`.fleet`), the step vocabulary of the
trace (:mod:`.steps`) and the smart-charging web app's backend (:mod:`.webapp`).  Every
assumption and its source is listed in the modules' docstrings (and, once the scenario ships,
in ``scenarios/porto/README.md``).
"""
