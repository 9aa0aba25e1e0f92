"""Who acts when no person does: the command line and the scheduler act as the system."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SystemActor:
    role: str = "system"
    id: None = None
    organization_id: None = None
    supplier_id: None = None
    email: str = "system"
    display_name: str = "Mutualis"


SYSTEM = SystemActor()
