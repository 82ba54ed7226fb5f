"""The local run: a stack's pools and workloads, end to end, on the local Batch service and Azurite.

Uses the same stack config, pool builder, blob uploads and submission engine as the Azure path, so a
run that succeeds here exercises the definitions that will be deployed.
"""
