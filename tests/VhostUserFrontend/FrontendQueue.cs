using VirtioFsd.Linux;

namespace VirtioFsd.VhostUserFrontend;

/// <summary>
/// The frontend's view of one virtqueue: where its split-ring areas sit in guest RAM and the kick and
/// call eventfds shared with the backend. Descriptors themselves are written by a driver (DriverQueue).
/// </summary>
public sealed class FrontendQueue : IDisposable
{
    public FrontendQueue(int index, ushort size, ulong descGpa, ulong availGpa, ulong usedGpa)
    {
        Index = index;
        Size = size;
        DescGpa = descGpa;
        AvailGpa = availGpa;
        UsedGpa = usedGpa;
        Kick = new UnixFd(Check(Libc.EventFd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK)));
        Call = new UnixFd(Check(Libc.EventFd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK)));
    }

    public int Index { get; }

    public ushort Size { get; }

    public ulong DescGpa { get; }

    public ulong AvailGpa { get; }

    public ulong UsedGpa { get; }

    /// <summary>"Guest to device" notification: the backend polls it.</summary>
    public UnixFd Kick { get; }

    /// <summary>"Device to guest" interrupt: the backend writes it.</summary>
    public UnixFd Call { get; }

    /// <summary>Bytes of each split-ring area for a queue of <paramref name="size"/> (virtio 1.2 §2.7, event fields included).</summary>
    public static (ulong Desc, ulong Avail, ulong Used) AreaSizes(ushort size)
        => (16UL * size, 6UL + (2UL * size), 6UL + (8UL * size));

    /// <summary>Places the three areas with <paramref name="allocator"/> at their required alignments (16 / 2 / 4).</summary>
    public static FrontendQueue Allocate(int index, ushort size, GuestAllocator allocator)
    {
        (ulong desc, ulong avail, ulong used) = AreaSizes(size);
        ulong d = allocator.Allocate(desc, 16);
        ulong a = allocator.Allocate(avail, 2);
        ulong u = allocator.Allocate(used, 4);
        return new FrontendQueue(index, size, d, a, u);
    }

    /// <summary>Notifies the backend that the avail ring has new entries.</summary>
    public void Notify() => Check((int)Libc.EventFdWrite(Kick.Value));

    /// <summary>Waits up to <paramref name="timeoutMs"/> for the backend's call; true if one came (and consumes it).</summary>
    public bool WaitForCall(int timeoutMs)
    {
        Span<Libc.PollFd> p = stackalloc Libc.PollFd[1];
        p[0] = new Libc.PollFd { Fd = Call.Value, Events = Libc.POLLIN };
        int r;
        do
        {
            r = Libc.Poll(p, timeoutMs);
        }
        while (r == -Errno.EINTR);
        if (r <= 0)
        {
            return false;
        }
        return Libc.EventFdRead(Call.Value, out _) > 0;
    }

    /// <summary>Consumes a pending call without waiting; true if there was one.</summary>
    public bool TryConsumeCall() => Libc.EventFdRead(Call.Value, out _) > 0;

    public void Dispose()
    {
        Kick.Dispose();
        Call.Dispose();
    }

    private static int Check(int r) => r >= 0 ? r : throw new VhostUserFrontendException($"eventfd: {Errno.Describe(r)}");
}
