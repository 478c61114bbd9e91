"""Readers per format, pandera schemas, id maps, the split protocol and the ingest stage's logic."""
