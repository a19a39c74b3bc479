"""The Porto use case's step vocabulary for the trace (``trace.parquet`` column ``step``).

The use case ("Porto airport — long-term V2B with building integration", written in the IEC
62559 use-case style; ``shared/design/use-cases.md``): steps ``"1"``–``"20"`` as numbered there,
with the first-time registration ``"3.1"`` and the BEMS's market and DSO data ``"10.1"``; the
use case's joint step "16–17" is split into ``"16"`` (the CS EMS sends the statistics) and
``"17"`` (the web app builds the report).
"""

from __future__ import annotations

PORTO_STEPS: dict[str, str] = {
    "1": "user books (and pays) a parking slot online (reservation, payment)",
    "2": "driver plugs in; charging event begins (ISO 15118-20 plug-in data)",
    "3": "user opens the smart-charging web app (session creation, availability)",
    "3.1": "first time: accepts the GDPR terms and registers (consent, credentials)",
    "4": "user enters departure time and minimum SOC at departure (preferences)",
    "5": "user confirms; start command",
    "6": "web app sends requirements and preferences to the CS EMS",
    "7": "CS EMS picks the charger and schedules; start command to the CS controller",
    "8": "charger-car handshake (ISO 15118-20); vehicle data streams begin",
    "9": "CS controller sends session data upstream (OCPP)",
    "10": "CS EMS passes session data to the BEMS, which optimises within its bounds",
    "10.1": "BEMS gets market and DSO data (prices, grid signals; OpenADR, OSCP)",
    "11": "user stops the event from the UI (termination)",
    "12": "web app backend sends end-of-session to the CS EMS",
    "13": "CS EMS ends the session; end signal to the CS controller",
    "14": "CS controller tells the EVSE to stop; connector unlocks",
    "15": "CS controller reports the session ended",
    "16": "CS EMS sends the session statistics to the web app",
    "17": "web app builds the session report",
    "18": "user sees statistics and bill, unplugs",
    "19": "web app tells parking management the slot is free (parking release)",
    "20": "user leaves",
}
"""Step id -> description, in the use case's order (the dict's order is the step order)."""

__all__ = ["PORTO_STEPS"]
