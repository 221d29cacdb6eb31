"""Durable work: what an ack promised, stored in a Redis Stream, and the consumers that do it.

`queue` stores a job before the ack and hands it out at least once; `consumer` runs jobs in
every web process and in `mysafe-bot worker`, taking over those whose consumer went silent;
`slots` bounds what runs at once, per person and in all, across every consumer.
None knows what a job means: each producer registers its kinds' handlers in the `registry`
the runtime builds, and `work` holds a process's queue, registry and consumer together.
"""
