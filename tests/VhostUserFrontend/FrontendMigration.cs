using System.Buffers.Binary;
using VirtioFsd.Linux;

namespace VirtioFsd.VhostUserFrontend;

/// <summary>
/// The dirty page log a frontend shares with SET_LOG_BASE, as QEMU's vhost_log: a sealed-size memfd holding one bit per
/// 4 KiB guest page, mapped here so the test reads what the backend marked.
/// </summary>
public sealed class FrontendDirtyLog : IDisposable
{
    private readonly nint _map;

    /// <summary>A log covering guest physical addresses below <paramref name="coveredBytes"/> (rounded up to 64 pages, as QEMU's u64 chunks).</summary>
    public FrontendDirtyLog(ulong coveredBytes)
    {
        ulong pages = (coveredBytes + 4095) / 4096;
        Size = (pages + 63) / 64 * 8;
        Fd = Libc.MemfdCreate("vhost-log", Libc.MFD_CLOEXEC);
        if (Fd < 0 || Libc.Ftruncate(Fd, (long)Size) < 0)
        {
            throw new VhostUserFrontendException("memfd for the dirty log failed");
        }
        _map = Libc.Mmap(0, Size, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, Fd, 0);
        if (_map < 0)
        {
            throw new VhostUserFrontendException("mapping the dirty log failed");
        }
    }

    public int Fd { get; }

    /// <summary>Bytes of bitmap (mmap_size).</summary>
    public ulong Size { get; }

    public unsafe bool IsDirty(ulong guestPhysAddr)
    {
        ulong page = guestPhysAddr / 4096;
        // The byte lies inside the mapping when the page is covered; callers ask about covered pages only.
        return page / 8 < Size && (((byte*)_map)[page / 8] & (1 << (int)(page % 8))) != 0;
    }

    /// <summary>Every dirty page's guest physical address, ascending.</summary>
    public unsafe List<ulong> DirtyPages()
    {
        var pages = new List<ulong>();
        for (ulong b = 0; b < Size; b++)
        {
            // b < Size: inside the mapping.
            byte bits = ((byte*)_map)[b];
            for (int i = 0; i < 8; i++)
            {
                if ((bits & (1 << i)) != 0)
                {
                    pages.Add(((b * 8) + (ulong)i) * 4096);
                }
            }
        }
        return pages;
    }

    /// <summary>Clears the bitmap, as QEMU's sync does after reading it.</summary>
    public unsafe void Clear() => new Span<byte>((void*)_map, checked((int)Size)).Clear();

    public void Dispose()
    {
        Libc.Munmap(_map, Size);
        Libc.Close(Fd);
    }
}

public sealed partial class VhostUserFrontend
{
    /// <summary>SET_LOG_BASE with the log's fd (LOG_SHMFD): QEMU's vhost_user_set_log_base, which reads a reply.</summary>
    public Reply SetLogBase(FrontendDirtyLog log, ulong? size = null, ulong offset = 0)
    {
        byte[] body = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(body, size ?? log.Size);
        BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(8), offset);
        return Call(Req.SetLogBase, body, [log.Fd]);
    }

    /// <summary>SET_FEATURES with VHOST_F_LOG_ALL switched on or off, the rest as negotiated (vhost_dev_set_log).</summary>
    public void SetLogging(bool enabled)
        => SetFeatures(enabled ? NegotiatedFeatures | Proto.FeatureLogAll : NegotiatedFeatures & ~Proto.FeatureLogAll);

    /// <summary>SET_VRING_ADDR for a started queue with VHOST_VRING_F_LOG and its used ring's guest address.</summary>
    public void SetVringLogging(FrontendQueue queue, bool enabled)
        => SetVringAddrRaw((uint)queue.Index, Ram.UserAddrOf(queue.DescGpa), Ram.UserAddrOf(queue.UsedGpa),
            Ram.UserAddrOf(queue.AvailGpa), queue.UsedGpa, enabled ? Proto.VringFlagLog : 0);

    /// <summary>SET_DEVICE_STATE_FD (direction 0 save, 1 load; phase 0 stopped) with the frontend's pipe end; the raw u64 answer.</summary>
    public ulong SetDeviceStateFd(uint direction, int fd, uint phase = 0)
    {
        byte[] body = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(body, direction);
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(4), phase);
        return Call(Req.SetDeviceStateFd, body, [fd]).U64;
    }

    /// <summary>CHECK_DEVICE_STATE: 0 when the backend saved or loaded its state.</summary>
    public ulong CheckDeviceState() => Call(Req.CheckDeviceState, []).U64;

    /// <summary>
    /// The source side of vhost_save_backend_state: a pipe, SET_DEVICE_STATE_FD(save) with its write end, read to end of
    /// file, CHECK_DEVICE_STATE. Returns the state and the check's answer.
    /// </summary>
    public (byte[] State, ulong Check) SaveDeviceState()
    {
        (int read, int write) = Pipe();
        try
        {
            ulong answer = SetDeviceStateFd(0, write);
            Libc.Close(write);
            write = -1;
            if ((answer & 0xff) != 0)
            {
                return ([], answer);
            }
            var state = new MemoryStream();
            byte[] chunk = new byte[65536];
            long n;
            while ((n = Libc.Read(read, chunk)) > 0)
            {
                state.Write(chunk, 0, (int)n);
            }
            return (state.ToArray(), CheckDeviceState());
        }
        finally
        {
            Libc.Close(read);
            if (write >= 0)
            {
                Libc.Close(write);
            }
        }
    }

    /// <summary>The destination side of vhost_load_backend_state: writes the state into a pipe, closes it, checks.</summary>
    public ulong LoadDeviceState(ReadOnlySpan<byte> state)
    {
        (int read, int write) = Pipe();
        try
        {
            ulong answer = SetDeviceStateFd(1, read);
            Libc.Close(read);
            read = -1;
            if ((answer & 0xff) != 0)
            {
                return answer;
            }
            while (!state.IsEmpty)
            {
                long n = Libc.Write(write, state);
                if (n <= 0)
                {
                    break;
                }
                state = state[(int)n..];
            }
            Libc.Close(write);
            write = -1;
            return CheckDeviceState();
        }
        finally
        {
            if (read >= 0)
            {
                Libc.Close(read);
            }
            if (write >= 0)
            {
                Libc.Close(write);
            }
        }
    }

    private static (int Read, int Write) Pipe()
    {
        if (Libc.Pipe2(Libc.O_CLOEXEC, out int read, out int write) < 0)
        {
            throw new VhostUserFrontendException("pipe2 failed");
        }
        return (read, write);
    }
}
