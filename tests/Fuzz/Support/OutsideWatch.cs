using System.Text;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuzz.Support;

/// <summary>
/// What a file server must never touch: a directory next to the share (every entry's type, mode,
/// owner, size, link count, mtime and ctime) and the listing of the share's parent. Compared
/// against the state at construction.
/// </summary>
public sealed class OutsideWatch
{
    private readonly string _parent;
    private readonly string _outside;
    private readonly string _baseline;

    public OutsideWatch(string parent, string outside)
    {
        _parent = parent;
        _outside = outside;
        _baseline = Describe();
    }

    /// <summary>Null when nothing changed, otherwise both descriptions.</summary>
    public string? Changed()
    {
        string now = Describe();
        return now == _baseline ? null : $"was [{_baseline}] now [{now}]";
    }

    private string Describe()
    {
        var sb = new StringBuilder();
        sb.Append(string.Join(',', Directory.EnumerateFileSystemEntries(_parent).Select(Path.GetFileName).Order(StringComparer.Ordinal)));
        foreach (string path in Directory.EnumerateFileSystemEntries(_outside, "*", SearchOption.AllDirectories).Prepend(_outside)
            .Order(StringComparer.Ordinal))
        {
            if (Libc.StatxAt(Libc.AT_FDCWD, Encoding.UTF8.GetBytes(path), Libc.AT_SYMLINK_NOFOLLOW, Libc.STATX_BASIC_STATS, out Statx st) == 0)
            {
                sb.Append($";{path}:{Convert.ToString(st.Mode, 8)}:{st.Uid}:{st.Gid}:{st.Size}:{st.Nlink}:{st.Mtime.Sec}.{st.Mtime.Nsec}:{st.Ctime.Sec}.{st.Ctime.Nsec}");
            }
            else
            {
                sb.Append($";{path}:gone");
            }
        }
        return sb.ToString();
    }
}
