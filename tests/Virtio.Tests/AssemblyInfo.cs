// Tests count this process's open fds (/proc/self/fd) before and after a scenario, so no two tests may
// open descriptors at the same time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
