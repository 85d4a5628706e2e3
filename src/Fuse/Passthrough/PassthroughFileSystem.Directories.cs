using System.Buffers;
using System.Buffers.Binary;
using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Passthrough;

/// <summary>
/// Directory handles. Offsets given to the guest are the host's d_off cookies from getdents64,
/// which the host filesystem keeps valid for lseek on the same directory, so a READDIR may resume
/// anywhere the guest was told, and concurrent readers of one handle cannot disturb each other.
/// </summary>
public sealed partial class PassthroughFileSystem
{
    /// <summary>getdents64 buffer: enough for the guest's usual 4 KiB-page READDIR reply in one call.</summary>
    private const int DirentBufferSize = 16 * 1024;

    /// <summary>Offset of d_name in struct linux_dirent64 (u64 d_ino, s64 d_off, u16 d_reclen, u8 d_type).</summary>
    private const int DirentNameOffset = 19;

    public int OpenDir(in RequestContext ctx, NodeId node, uint flags, out OpenResult result)
    {
        result = default;
        Inode? inode = _inodes.Borrow(node);
        if (inode is null)
        {
            return -Errno.ESTALE;
        }
        try
        {
            if (!inode.IsDirectory)
            {
                return -Errno.ENOTDIR;
            }
            int fd = OpenVerified(inode, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_NONBLOCK);
            if (fd < 0)
            {
                return fd;
            }
            result = new OpenResult { Handle = _handles.Add(new OpenFile(node, fd, Libc.O_RDONLY | Libc.O_DIRECTORY, isDirectory: true)) };
            return 0;
        }
        finally
        {
            _inodes.Return(inode);
        }
    }

    public int ReadDir(in RequestContext ctx, NodeId node, HandleId handle, ulong offset, IDirectoryEntrySink sink) =>
        ReadDirectory(node, handle, offset, sink, plus: false);

    public int ReadDirPlus(in RequestContext ctx, NodeId node, HandleId handle, ulong offset, IDirectoryEntrySink sink) =>
        ReadDirectory(node, handle, offset, sink, plus: true);

    public int ReleaseDir(in RequestContext ctx, NodeId node, HandleId handle) =>
        _handles.Remove(handle, node) ? 0 : -Errno.EBADF;

    public int FsyncDir(in RequestContext ctx, NodeId node, HandleId handle, bool dataSync) => Fsync(ctx, node, handle, dataSync);

    private int ReadDirectory(NodeId node, HandleId handle, ulong offset, IDirectoryEntrySink sink, bool plus)
    {
        if (offset > long.MaxValue)
        {
            return -Errno.EINVAL;
        }
        OpenFile? file = _handles.Borrow(handle, node);
        if (file is null || !file.IsDirectory)
        {
            if (file is not null)
            {
                _handles.Return(file);
            }
            return -Errno.EBADF;
        }
        Inode? dir = plus ? _inodes.Borrow(node) : null;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(DirentBufferSize);
        try
        {
            if (plus && dir is null)
            {
                return -Errno.ESTALE;
            }
            lock (file.DirectoryLock)
            {
                long pos = Libc.Lseek(file.Fd, (long)offset, Libc.SEEK_SET);
                if (pos < 0)
                {
                    return (int)pos;
                }
                bool added = false;
                while (true)
                {
                    int n = Libc.Getdents64(file.Fd, buffer.AsSpan(0, DirentBufferSize));
                    if (n <= 0)
                    {
                        return n < 0 && !added ? n : 0;
                    }
                    int r = AddEntries(dir, buffer.AsSpan(0, n), sink, ref added);
                    if (r <= 0)
                    {
                        return r < 0 && !added ? r : 0;
                    }
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            if (dir is not null)
            {
                _inodes.Return(dir);
            }
            _handles.Return(file);
        }
    }

    /// <summary>
    /// Feeds one getdents64 batch to the sink. Returns 1 to go on reading, 0 when the sink is full,
    /// or -errno. <paramref name="dir"/> is set for READDIRPLUS.
    /// </summary>
    private int AddEntries(Inode? dir, ReadOnlySpan<byte> records, IDirectoryEntrySink sink, ref bool added)
    {
        while (records.Length >= DirentNameOffset + 1)
        {
            ulong ino = BinaryPrimitives.ReadUInt64LittleEndian(records);
            ulong next = BinaryPrimitives.ReadUInt64LittleEndian(records[8..]);
            int reclen = BinaryPrimitives.ReadUInt16LittleEndian(records[16..]);
            uint type = records[18];
            if (reclen < DirentNameOffset + 1 || reclen > records.Length)
            {
                _log.Error("getdents64 returned a malformed record (reclen {RecLen} of {Left} bytes left)", reclen, records.Length);
                return -Errno.EIO;
            }
            ReadOnlySpan<byte> name = records[DirentNameOffset..reclen];
            int nul = name.IndexOf((byte)0);
            if (nul >= 0)
            {
                name = name[..nul];
            }
            records = records[reclen..];

            if (dir is null)
            {
                if (!sink.TryAdd(ino, next, type, name))
                {
                    return 0;
                }
                added = true;
                continue;
            }

            Entry entry = default;
            if (Names.IsDot(name) || Names.IsDotDot(name))
            {
                // Node id 0: "no entry to link" (fuse_direntplus_link); the guest keeps its own "." and "..".
                entry.Attr.Ino = ino;
                entry.Attr.Mode = type << 12;
            }
            else
            {
                if (!sink.Fits(name.Length))
                {
                    return 0;
                }
                int r = LookupName(dir, name, out entry);
                if (r == -Errno.ENOENT)
                {
                    // Removed since getdents64 listed it: skip, as a later READDIR would not list it.
                    continue;
                }
                if (r < 0)
                {
                    return r;
                }
            }
            if (!sink.TryAddPlus(entry, next, type, name))
            {
                if (entry.Node.Value != 0)
                {
                    // The guest never sees this entry, so it will never forget the lookup just taken.
                    _inodes.Forget(entry.Node, 1);
                }
                return 0;
            }
            added = true;
        }
        return 1;
    }
}
