"""The roles of tokens and admin accounts."""

from __future__ import annotations

DISTRICT = "district"
SCHOOL = "school"
DEVICE = "device"
# A member of staff's phone at a roll call: accounts for that school's pupils in its roll
# calls and reads them, nothing else (routes admit it only with `allow(..., STAFF)`).
STAFF = "staff"
TOKEN_ROLES = (DISTRICT, SCHOOL, DEVICE, STAFF)
ADMIN_ROLES = (DISTRICT, SCHOOL)
