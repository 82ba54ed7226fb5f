"""Edge validation shared by the stack config and workload models: problems, messages, YAML reading."""

from batchforge.core.problems import InvalidInput, Problem, format_path
from batchforge.core.pydantic_errors import problems_from_validation_error
from batchforge.core.yaml_files import parse_yaml, read_yaml_file

__all__ = [
    "InvalidInput",
    "Problem",
    "format_path",
    "parse_yaml",
    "problems_from_validation_error",
    "read_yaml_file",
]
