namespace VirtioFsd.Linux;

/// <summary>
/// A filesystem's persistent name for an inode (struct file_handle: handle_type and f_handle, from
/// name_to_handle_at). Unlike an inode number it carries the inode's generation, so a handle of a
/// deleted file never names the file that later gets its inode number: open_by_handle_at gives ESTALE.
/// Immutable; equal when type and bytes are.
/// </summary>
public sealed class FileHandle : IEquatable<FileHandle>
{
    /// <summary>MAX_HANDLE_SZ (linux/exportfs.h): the largest f_handle any filesystem produces.</summary>
    public const int MaxBytes = 128;

    private readonly byte[] _bytes;
    private readonly int _hash;

    public FileHandle(int type, ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > MaxBytes)
        {
            throw new ArgumentException($"a file handle has at most {MaxBytes} bytes", nameof(bytes));
        }
        Type = type;
        _bytes = bytes.ToArray();
        var h = new HashCode();
        h.Add(type);
        h.AddBytes(_bytes);
        _hash = h.ToHashCode();
    }

    public int Type { get; }

    public ReadOnlySpan<byte> Bytes => _bytes;

    public bool Equals(FileHandle? other) =>
        other is not null && other.Type == Type && other._bytes.AsSpan().SequenceEqual(_bytes);

    public override bool Equals(object? obj) => Equals(obj as FileHandle);

    public override int GetHashCode() => _hash;
}
