"""The Terni use case's step vocabulary for the trace (``trace.parquet`` column ``step``).

The use case ("Terni city centre — short-term V2G against reverse power flow", written in the
IEC 62559 use-case style; see also ``scenarios/terni/README.md``):

* ``"1"``–``"13"``: the main flow, numbered as in the use case;
* ``"D1"``, ``"D2"``: the precondition "DSO assessment of future needs" — the forecast service
  produces the grid forecast (D1) and the DSO publishes flexibility requests on the LFMP (D2);
* ``"J1"``–``"J5"``: joining a campaign (user sees the DSO requests → sets price/minimum-SOC
  preferences → asks to join → the EMSP places an offer → confirmation);
* ``"M1"``–``"M4"``: matching (gate closure with the declared baselines → the order book is
  collected → best offers picked per request → results published);
* ``"S1"``–``"S4"``: verification and settlement (metered data retrieved and verified → DSO
  releases payment → the EV owner receives the incentive → the EMSP keeps its share).
"""

from __future__ import annotations

TERNI_STEPS: dict[str, str] = {
    "1": "driver arrives at the parking area",
    "2": "plugs into the bidirectional charger (ISO 15118-20 plug-in data)",
    "3": "opens the EMSP UI (session creation)",
    "4": "opts into bidirectional charging and a DSO campaign; GDPR consent, registration",
    "5": "sets departure time and preferred SOC at departure",
    "6": "starts the event",
    "7": "EMSP sends the start signal to the CS controller and starts trading on the LFMP",
    "8": "CS controller starts the EVSE (session details)",
    "9": "EVSE initialises with the car; real-time data streams",
    "10": "EMSP trades on the LFMP and sends setpoints to the CS controller",
    "11": "user stops; EVSE, CS EMS and web app told; final settlement triggered",
    "12": "web app summarises statistics and payments",
    "13": "driver leaves",
    "D1": "DSO forecast service: reverse flow and voltage forecast",
    "D2": "DSO publishes flexibility requests on the LFMP",
    "J1": "user sees the list of DSO flexibility requests",
    "J2": "user sets campaign preferences (price, minimum SOC)",
    "J3": "user asks to join a campaign",
    "J4": "EMSP places a flexibility offer on the marketplace",
    "J5": "user gets a confirmation",
    "M1": "market session closes (gate closure; baselines declared)",
    "M2": "marketplace collects the bids",
    "M3": "marketplace picks the best bid(s) for each DSO request",
    "M4": "marketplace publishes the result",
    "S1": "metered charging data retrieved and verified against the baseline",
    "S2": "DSO releases payment for the delivered flexibility",
    "S3": "EV owner receives the incentive",
    "S4": "EMSP receives its share",
}
