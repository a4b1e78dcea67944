"""The pure core: the job model, validated input, settings, retry rules. No I/O here.

Every other package depends on this one; it imports nothing else of queuectl's.
"""
