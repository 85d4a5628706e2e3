using System.Buffers.Binary;
using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;
using VirtioFsd.Linux.IoEngine;

namespace VirtioFsd.Fuse.Passthrough;

/// <summary>
/// Directory handles. Offsets given to the guest are the host's d_off cookies from getdents64,
/// which the host filesystem keeps valid for lseek on the same directory, so a READDIR may resume
/// anywhere the guest was told, and concurrent readers of one handle cannot disturb each other (the
/// handle's lock serialises them; one resuming elsewhere costs an lseek). A READDIR that continues where
/// the previous one stopped reads on from <see cref="DirectoryStream"/> without seeking.
/// </summary>
public sealed partial class PassthroughFileSystem
{
    /// <summary>Unknown names in a row after which one READDIRPLUS reply stops trying the known-inode statx.</summary>
    private const int ColdListingMisses = 8;

    /// <summary>Offset of d_name in struct linux_dirent64 (u64 d_ino, s64 d_off, u16 d_reclen, u8 d_type).</summary>
    private const int DirentNameOffset = 19;

    public int OpenDir(in RequestContext ctx, NodeId node, uint flags, out OpenResult result)
    {
        result = default;
        // As OPEN: a handle inode without an open fd is opened in one open_by_handle_at (OpenVerified).
        Inode? inode = _inodes.BorrowIdentity(node);
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
            int room = GuestFdRoom();
            if (room < 0)
            {
                return room;
            }
            int fd = OpenVerified(inode, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_NONBLOCK);
            if (fd < 0)
            {
                return fd;
            }
            result = new OpenResult { Handle = AddHandle(node, fd, Libc.O_RDONLY | Libc.O_DIRECTORY, isDirectory: true) };
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

    public ValueTask<int> FsyncDir(in RequestContext ctx, NodeId node, HandleId handle, bool dataSync, IFileIo io)
        => Fsync(ctx, node, handle, dataSync, io);

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
        try
        {
            if (plus && dir is null)
            {
                return -Errno.ESTALE;
            }
            lock (file.DirectoryLock)
            {
                DirectoryStream stream = DirectoryStream.Of(file);
                int r = ReadFromStream(file.Fd, stream, dir, offset, sink);
                if (r < 0)
                {
                    // Where the fd stands after a failed call is not worth reasoning about: seek next time.
                    stream.Invalidate();
                }
                return r;
            }
        }
        finally
        {
            if (dir is not null)
            {
                _inodes.Return(dir);
            }
            _handles.Return(file);
        }
    }

    /// <summary>
    /// Fills the sink from <paramref name="offset"/> on: from the records left over by the previous reply when
    /// it stopped there, else after an lseek. Returns 0, or -errno when nothing could be added.
    /// </summary>
    private int ReadFromStream(int fd, DirectoryStream stream, Inode? dir, ulong offset, IDirectoryEntrySink sink)
    {
        if (!stream.ContinuesAt(offset))
        {
            long pos = Libc.Lseek(fd, (long)offset, Libc.SEEK_SET);
            if (pos < 0)
            {
                return (int)pos;
            }
            stream.Seeked(offset);
        }
        bool added = false;
        int misses = 0;
        while (true)
        {
            if (stream.Start == stream.End)
            {
                int n = Libc.Getdents64(fd, stream.Buffer);
                if (n <= 0)
                {
                    if (n == 0)
                    {
                        stream.AtEnd();
                    }
                    return n < 0 && !added ? n : 0;
                }
                stream.Filled(n);
            }
            int r = AddEntries(dir, stream, sink, ref added, ref misses);
            if (r <= 0)
            {
                return r < 0 && !added ? r : 0;
            }
        }
    }

    /// <summary>
    /// Feeds the stream's buffered records to the sink, consuming each one given out (or skipped). Returns 1
    /// when the buffer is used up, 0 when the sink is full, or -errno. <paramref name="dir"/> is set for READDIRPLUS.
    /// </summary>
    private int AddEntries(Inode? dir, DirectoryStream stream, IDirectoryEntrySink sink, ref bool added, ref int misses)
    {
        while (stream.Start < stream.End)
        {
            ReadOnlySpan<byte> records = stream.Buffer.AsSpan(stream.Start, stream.End - stream.Start);
            int reclen = records.Length >= DirentNameOffset + 1 ? BinaryPrimitives.ReadUInt16LittleEndian(records[16..]) : 0;
            if (reclen < DirentNameOffset + 1 || reclen > records.Length)
            {
                _log.Error("getdents64 returned a malformed record (reclen {RecLen} of {Left} bytes left)", reclen, records.Length);
                return -Errno.EIO;
            }
            ulong ino = BinaryPrimitives.ReadUInt64LittleEndian(records);
            ulong next = BinaryPrimitives.ReadUInt64LittleEndian(records[8..]);
            uint type = records[18];
            ReadOnlySpan<byte> name = records[DirentNameOffset..reclen];
            int nul = name.IndexOf((byte)0);
            if (nul >= 0)
            {
                name = name[..nul];
            }

            if (dir is null)
            {
                if (!sink.TryAdd(ino, next, type, name))
                {
                    return 0;
                }
                stream.Consumed(reclen, next);
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
                int r = LookupListedName(dir, name, ref misses, out entry);
                if (r == -Errno.ENOENT)
                {
                    // Removed since getdents64 listed it: skip, as a later READDIR would not list it.
                    stream.Consumed(reclen, next);
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
            stream.Consumed(reclen, next);
            added = true;
        }
        return 1;
    }

    /// <summary>
    /// The LOOKUP that READDIRPLUS implies for one listed name: <see cref="TryLookupKnownName"/> first, the
    /// full LOOKUP when the name is not a known inode of the same mount. After <see cref="ColdListingMisses"/>
    /// unknown names in a row (a first listing) the rest of the reply goes the LOOKUP way directly, so a cold
    /// listing does not pay the extra statx per entry.
    /// </summary>
    private int LookupListedName(Inode dir, ReadOnlySpan<byte> name, ref int misses, out Entry entry)
    {
        if (misses >= ColdListingMisses)
        {
            return LookupName(dir, name, out entry);
        }
        int r = TryLookupKnownName(dir, name, out entry);
        if (r <= 0)
        {
            misses = r == 0 ? 0 : misses;
            return r;
        }
        misses++;
        return LookupName(dir, name, out entry);
    }
}
