using System.Globalization;
using System.Text;

namespace VirtioFsd.Linux.Capabilities;

/// <summary>The five capability sets of one thread, as /proc/PID/task/TID/status shows them.</summary>
public readonly record struct ThreadCapabilitySets(int Tid, string Name, ulong Inheritable, ulong Permitted,
    ulong Effective, ulong Bounding, ulong Ambient)
{
    /// <summary>True when the thread holds exactly <paramref name="kept"/>: bounding, permitted and effective equal it; inheritable and ambient empty.</summary>
    public bool HoldsExactly(ulong kept) =>
        Bounding == kept && Permitted == kept && Effective == kept && Inheritable == 0 && Ambient == 0;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"thread {Tid} ({Name}): CapInh {Inheritable:x16} CapPrm {Permitted:x16} CapEff {Effective:x16} CapBnd {Bounding:x16} CapAmb {Ambient:x16}");
}

/// <summary>
/// An open /proc/self/task: lists this process's threads and reads their capability sets. Opened before a
/// sandbox hides /proc (a directory fd keeps working after pivot_root or chroot).
/// </summary>
public sealed class TaskDirectory : IDisposable
{
    private readonly UnixFd _fd;

    private TaskDirectory(int fd)
    {
        _fd = new UnixFd(fd);
    }

    /// <summary>Opens /proc/self/task; 0 or -errno.</summary>
    public static int Open(out TaskDirectory? directory)
    {
        int fd = Libc.OpenAbsolute("/proc/self/task", Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC);
        directory = fd < 0 ? null : new TaskDirectory(fd);
        return fd < 0 ? fd : 0;
    }

    /// <summary>The ids of the threads alive now.</summary>
    public List<int> ThreadIds()
    {
        var ids = new List<int>();
        Libc.Lseek(_fd.Value, 0, Libc.SEEK_SET);
        Span<byte> buffer = stackalloc byte[4096];
        int n;
        while ((n = Libc.Getdents64(_fd.Value, buffer)) > 0)
        {
            // struct linux_dirent64: u64 d_ino, s64 d_off, u16 d_reclen, u8 d_type, NUL-terminated name.
            for (int at = 0; at + 19 < n;)
            {
                int length = BitConverter.ToUInt16(buffer.Slice(at + 16, 2));
                ReadOnlySpan<byte> name = buffer.Slice(at + 19, length - 19);
                name = name[..name.IndexOf((byte)0)];
                if (int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out int tid))
                {
                    ids.Add(tid);
                }
                at += length;
            }
        }
        return ids;
    }

    /// <summary>The sets of thread <paramref name="tid"/>; false when it is gone or its status cannot be read.</summary>
    public bool TryRead(int tid, out ThreadCapabilitySets sets)
    {
        sets = default;
        int fd = Libc.Openat(_fd.Value, Encoding.ASCII.GetBytes(tid.ToString(CultureInfo.InvariantCulture) + "/status"),
            Libc.O_RDONLY | Libc.O_CLOEXEC);
        if (fd < 0)
        {
            return false;
        }
        using var file = new UnixFd(fd);
        var buffer = new byte[8192];
        long length = Libc.Read(fd, buffer);
        return length > 0 && TryParse(tid, Encoding.ASCII.GetString(buffer, 0, (int)length), out sets);
    }

    /// <summary>Parses the Name and Cap* lines of a status file.</summary>
    public static bool TryParse(int tid, string status, out ThreadCapabilitySets sets)
    {
        ArgumentNullException.ThrowIfNull(status);
        string name = "";
        var values = new Dictionary<string, ulong>(StringComparer.Ordinal);
        foreach (string line in status.Split('\n'))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
            {
                continue;
            }
            string key = line[..colon];
            string value = line[(colon + 1)..].Trim();
            if (key == "Name")
            {
                name = value;
            }
            else if (key.StartsWith("Cap", StringComparison.Ordinal)
                && ulong.TryParse(value, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong set))
            {
                values[key] = set;
            }
        }
        bool complete = values.TryGetValue("CapInh", out ulong inh) & values.TryGetValue("CapPrm", out ulong prm)
            & values.TryGetValue("CapEff", out ulong eff) & values.TryGetValue("CapBnd", out ulong bnd)
            & values.TryGetValue("CapAmb", out ulong amb);
        sets = new ThreadCapabilitySets(tid, name, inh, prm, eff, bnd, amb);
        return complete;
    }

    public void Dispose() => _fd.Dispose();
}
