namespace VirtioFsd.Device;

/// <summary>How the request queues do their file I/O (<c>--io-engine</c>).</summary>
public enum IoEngineKind
{
    /// <summary>One thread per queue; every request runs to completion on it (blocking syscalls).</summary>
    Sync,

    /// <summary>One io_uring per request queue: many requests in flight per queue; falls back to Sync where io_uring is unavailable.</summary>
    IoUring,
}

/// <summary>Settings of the virtio-fs device: how its queues are served. The defaults are the daemon's.</summary>
public sealed record DeviceOptions
{
    /// <summary>
    /// --tag: the virtio-fs config space (virtio 1.2 §5.11.4) served through GET_CONFIG, for frontends that take the
    /// tag from the device; empty: VHOST_USER_PROTOCOL_F_CONFIG is not offered (QEMU's tag= property is all there is).
    /// </summary>
    public string Tag { get; init; } = "";

    /// <summary>--io-engine.</summary>
    public IoEngineKind IoEngine { get; init; } = IoEngineKind.IoUring;

    /// <summary>
    /// --queue-poll-us: how long a queue worker watches its ring for the next request before it sleeps until a kick
    /// (0: never). 30 us, as QEMU's iothread polling default (32 us).
    /// </summary>
    public uint QueuePollMicroseconds { get; init; } = 30;

    /// <summary>
    /// --thread-pool-size N: the Rust daemon serves a queue on a pool of N threads; here a queue's blocking file
    /// operations run on io_uring's kernel workers, at most N of them per queue. 0 (the Rust default, "no pool")
    /// leaves the kernel's limits: the queue thread itself never blocks either way.
    /// </summary>
    public uint ThreadPoolSize { get; init; }
}
