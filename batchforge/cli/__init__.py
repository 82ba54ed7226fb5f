"""batchctl: the operator command line for batchforge (validate, submit, status, wait, logs, local up/down)."""
