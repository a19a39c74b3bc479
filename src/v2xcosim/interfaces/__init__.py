"""Floor 1: adapters to outside data models (the DriVe2X smart-charging interface)."""
