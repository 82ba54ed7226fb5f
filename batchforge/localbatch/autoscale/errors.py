"""Formula errors in the shape Batch reports them: a code, a message, and the detail as a "Message" value.

The detail starts with the formula position ("Line 1, Col 37: ..."), as the service's does.
"""

from __future__ import annotations

from typing import Any

SYNTAX_ERROR = "AutoScalingFormulaSyntaxError"
EVALUATION_ERROR = "AutoScalingFormulaEvaluationError"
INSUFFICIENT_SAMPLES = "InsufficientSampleData"
TOO_LONG = "AutoScaleFormulaTooLong"

_MESSAGES = {
    SYNTAX_ERROR: "The specified auto-scaling formula has a syntax error.",
    EVALUATION_ERROR: "An error occurred when evaluating the autoscale formula.",
    INSUFFICIENT_SAMPLES: "Autoscale evaluation failed due to insufficient sample data",
    TOO_LONG: "The specified auto-scaling formula exceeds lengths limit.",
}

Position = tuple[int, int]


class FormulaError(Exception):
    def __init__(self, code: str, detail: str, position: Position | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.position = position

    @property
    def located_detail(self) -> str:
        if self.position is None:
            return self.detail
        line, col = self.position
        return f"Line {line}, Col {col}: {self.detail}"

    def wire(self) -> dict[str, Any]:
        """The `autoScaleRun.error` body."""
        return {
            "code": self.code,
            "message": _MESSAGES[self.code],
            "values": [{"name": "Message", "value": self.located_detail}],
        }


def syntax_error(detail: str, position: Position | None) -> FormulaError:
    return FormulaError(SYNTAX_ERROR, detail, position)


def evaluation_error(detail: str, position: Position | None) -> FormulaError:
    return FormulaError(EVALUATION_ERROR, detail, position)
