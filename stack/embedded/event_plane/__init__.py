"""The embedded event plane: hookstack's own SQS → Lambda event source mappings.

On the ``embedded`` target the emulator's event source mapping runs one batch at a time
whatever the number of message groups; Lambda's pollers scale a FIFO mapping to one batch in
flight per active message group, up to ``ScalingConfig.MaximumConcurrency``. This package
polls the deployed stack's mappings itself, the way Lambda does, and invokes the mapped
function in the same warm execution environments as the API path (see docs/event-plane.md).

Shape (as LocalStack's event source mapping has it): :mod:`.mappings` reads what was deployed,
:mod:`.poller` receives and scales, the function pool sends, :mod:`.records` builds the
event and reads the answer, :mod:`.plane` runs every mapping of a stack in one process.
The data plane process (``stack.embedded.gateway``) starts it as its child with
:func:`stack.embedded.event_plane.process.launch`.
"""
