"""attendance: a school attendance service."""
