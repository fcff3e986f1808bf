"""Singing-voice separation (Huang et al., ISMIR 2014): `separate(song)` -> vocals and accompaniment."""

from toolkit.separation.predict import separate

__all__ = ["separate"]
