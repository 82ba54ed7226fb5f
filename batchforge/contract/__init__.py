"""Contracts our programs must honour beyond what Pulumi's mocks check: the engine's (``engine``)."""

from batchforge.contract.engine import (
    EngineContractViolation,
    ProgramResult,
    Registration,
    engine_urn,
    run_under_engine_contract,
)

__all__ = ["EngineContractViolation", "ProgramResult", "Registration", "engine_urn", "run_under_engine_contract"]
