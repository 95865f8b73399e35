"""The DMP's services beyond feeding (ITI-18, ITI-43, ITI-57, TD0.2): one client, one VIHF per call."""
