"""Record history screens (audit trail), declarations only."""
