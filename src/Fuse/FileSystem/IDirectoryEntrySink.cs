namespace VirtioFsd.Fuse.FileSystem;

/// <summary>
/// Where READDIR / READDIRPLUS entries go: the server's writer over the reply buffer, bounded by
/// the size the guest asked for. The filesystem adds entries until one does not fit.
/// </summary>
public interface IDirectoryEntrySink
{
    /// <summary>Whether an entry with a name of this length still fits (check before a READDIRPLUS lookup).</summary>
    bool Fits(int nameLength);

    /// <summary>Adds a fuse_dirent; false when it does not fit (nothing written). <paramref name="nextOffset"/> resumes after it.</summary>
    bool TryAdd(ulong ino, ulong nextOffset, uint type, ReadOnlySpan<byte> name);

    /// <summary>
    /// Adds a fuse_direntplus; false when it does not fit. The filesystem must then undo the lookup
    /// count it took for <paramref name="entry"/> (the guest never sees that entry).
    /// </summary>
    bool TryAddPlus(in Entry entry, ulong nextOffset, uint type, ReadOnlySpan<byte> name);
}
