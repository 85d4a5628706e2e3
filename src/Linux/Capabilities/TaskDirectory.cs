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

    /// <summary>
    /// The sets of thread <paramref name="tid"/>; false when it is gone or its status cannot be read. Allocates only
    /// the thread's name: the capability drop reads every thread's status in each of its rounds, right after start-up,
    /// and a parse through strings (~30 KB per read) was enough to cause the only collection of a daemon's start.
    /// </summary>
    public bool TryRead(int tid, out ThreadCapabilitySets sets)
    {
        sets = default;
        Span<byte> path = stackalloc byte[24];
        if (!tid.TryFormat(path, out int digits, default, CultureInfo.InvariantCulture) || !"/status"u8.TryCopyTo(path[digits..]))
        {
            return false;
        }
        Span<byte> buffer = stackalloc byte[8192];
        int length = Libc.ReadSmallFileAt(_fd.Value, path[..(digits + "/status"u8.Length)], buffer);
        return length > 0 && TryParse(tid, buffer[..length], out sets);
    }

    /// <summary>Parses the Name and Cap* lines of a status file.</summary>
    public static bool TryParse(int tid, string status, out ThreadCapabilitySets sets)
    {
        ArgumentNullException.ThrowIfNull(status);
        return TryParse(tid, Encoding.ASCII.GetBytes(status), out sets);
    }

    /// <summary>Parses the Name and Cap* lines of a status file; false unless all five sets are there.</summary>
    public static bool TryParse(int tid, ReadOnlySpan<byte> status, out ThreadCapabilitySets sets)
    {
        string name = "";
        ulong inh = 0, prm = 0, eff = 0, bnd = 0, amb = 0;
        int found = 0;
        foreach (Range range in status.Split((byte)'\n'))
        {
            ReadOnlySpan<byte> line = status[range];
            int colon = line.IndexOf((byte)':');
            if (colon < 0)
            {
                continue;
            }
            ReadOnlySpan<byte> key = line[..colon];
            ReadOnlySpan<byte> value = line[(colon + 1)..];
            value = value[Ascii.Trim(value)];
            if (key.SequenceEqual("Name"u8))
            {
                name = Encoding.ASCII.GetString(value);
            }
            else if (key.SequenceEqual("CapInh"u8))
            {
                found |= Hex(value, ref inh, 1);
            }
            else if (key.SequenceEqual("CapPrm"u8))
            {
                found |= Hex(value, ref prm, 2);
            }
            else if (key.SequenceEqual("CapEff"u8))
            {
                found |= Hex(value, ref eff, 4);
            }
            else if (key.SequenceEqual("CapBnd"u8))
            {
                found |= Hex(value, ref bnd, 8);
            }
            else if (key.SequenceEqual("CapAmb"u8))
            {
                found |= Hex(value, ref amb, 16);
            }
        }
        sets = new ThreadCapabilitySets(tid, name, inh, prm, eff, bnd, amb);
        return found == 31;
    }

    /// <summary><paramref name="bit"/> when <paramref name="text"/> is a hexadecimal number (stored in <paramref name="set"/>), else 0.</summary>
    private static int Hex(ReadOnlySpan<byte> text, ref ulong set, int bit)
    {
        if (ulong.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong value))
        {
            set = value;
            return bit;
        }
        return 0;
    }

    public void Dispose() => _fd.Dispose();
}
