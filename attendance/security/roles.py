"""The roles of tokens and admin accounts."""

from __future__ import annotations

DISTRICT = "district"
SCHOOL = "school"
DEVICE = "device"
TOKEN_ROLES = (DISTRICT, SCHOOL, DEVICE)
ADMIN_ROLES = (DISTRICT, SCHOOL)
