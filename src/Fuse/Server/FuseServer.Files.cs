using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Server;

// File operations: OPEN, CREATE, TMPFILE, READ, WRITE, FLUSH, RELEASE, FSYNC, FALLOCATE, LSEEK, COPY_FILE_RANGE.
public sealed partial class FuseServer
{
    private int Open(in Call call)
    {
        if (!call.Reader.TryRead(out FuseOpenIn open))
        {
            return Malformed(call);
        }

        if (options.ReadOnly && OpensForWriting(open.Flags))
        {
            return -Errno.EROFS;
        }

        int result = fs.Open(call.Ctx, call.Node, AdjustOpenFlags(call, open.Flags), out OpenResult opened);
        return result < 0 ? result : ReplyOpen(call, opened, FileCacheFlags(open.Flags));
    }

    private int Create(in Call call)
    {
        if (!call.Reader.TryRead(out FuseCreateIn create))
        {
            return Malformed(call);
        }

        int result = ReadSingleName(call, out ReadOnlySpan<byte> name);
        if (result < 0)
        {
            return result;
        }

        result = fs.Create(WithUmask(call, create.Umask), call.Node, name, create.Mode, AdjustOpenFlags(call, create.Flags),
            out Entry entry, out OpenResult opened);
        if (result < 0)
        {
            return result;
        }

        result = ReplyEntry(call, entry);
        return result < 0 ? result : ReplyOpen(call, opened, FileCacheFlags(create.Flags));
    }

    private int Tmpfile(in Call call)
    {
        // The guest sends a create_in and a placeholder name ("/", fs/namei.c vfs_tmpfile) we do not need.
        if (!call.Reader.TryRead(out FuseCreateIn create))
        {
            return Malformed(call);
        }

        int result = fs.Tmpfile(WithUmask(call, create.Umask), call.Node, create.Mode, AdjustOpenFlags(call, create.Flags),
            out Entry entry, out OpenResult opened);
        if (result < 0)
        {
            return result;
        }

        result = ReplyEntry(call, entry);
        return result < 0 ? result : ReplyOpen(call, opened, FileCacheFlags(create.Flags));
    }

    private ValueTask<int> Read(in Call call)
    {
        if (!call.Reader.TryRead(out FuseReadIn read))
        {
            return new(Malformed(call));
        }

        // The guest sizes its buffers for the read; never fill more than both allow.
        long size = Math.Min(read.Size, call.Writer.Remaining);
        long start = call.Writer.Length;
        call.Writer.TryTakeIoVecs(size, out ReadOnlySpan<IoVec> destination);
        ValueTask<long> count = fs.Read(call.Ctx, call.Node, new HandleId(read.Fh), read.Offset, destination, call.Request.Io);
        return count.IsCompletedSuccessfully
            ? new(FinishRead(call.Writer, start, size, count.Result))
            : call.Request.PendingData.Read(this, count, start, size);
    }

    /// <summary>The reply of a READ that moved <paramref name="count"/> bytes (or failed) into the reply's data area.</summary>
    internal int FinishRead(ReplyWriter writer, long start, long size, long count)
    {
        if (count < 0)
        {
            return FromLong(count);
        }

        if (count > size)
        {
            log.Error("IFileSystem.Read returned {Count} bytes for a {Size}-byte buffer", count, size);
            return -Errno.EIO;
        }

        writer.Truncate(start + count);
        return Replied;
    }

    private ValueTask<int> Write(in Call call)
    {
        if (!call.Reader.TryRead(out FuseWriteIn write))
        {
            return new(Malformed(call));
        }

        if (write.Size != call.Reader.Remaining || write.Size > maxWrite)
        {
            log.Warning("FUSE WRITE (unique {Unique}): size {Size} but {Remaining} data bytes (max_write {MaxWrite})",
                call.Header.Unique, write.Size, call.Reader.Remaining, maxWrite);
            return new(-Errno.EINVAL);
        }

        call.Reader.TryTakeIoVecs(write.Size, out ReadOnlySpan<IoVec> source);
        bool killPrivileges = (write.WriteFlags & FuseConstants.WriteKillSuidgid) != 0;
        ValueTask<long> count = fs.Write(call.Ctx, call.Node, new HandleId(write.Fh), write.Offset, source, write.WriteFlags,
            killPrivileges, call.Request.Io);
        return count.IsCompletedSuccessfully
            ? new(FinishWrite(call.Writer, write.Size, count.Result))
            : call.Request.PendingData.Write(this, count, write.Size);
    }

    /// <summary>The reply of a WRITE that moved <paramref name="count"/> bytes (or failed).</summary>
    internal int FinishWrite(ReplyWriter writer, uint size, long count)
    {
        if (count < 0)
        {
            return FromLong(count);
        }

        if (count > size)
        {
            log.Error("IFileSystem.Write returned {Count} bytes for {Size}", count, size);
            return -Errno.EIO;
        }

        return writer.TryWrite(new FuseWriteOut { Size = (uint)count }) ? Replied : -Errno.ERANGE;
    }

    private int Flush(in Call call)
    {
        if (!call.Reader.TryRead(out FuseFlushIn flush))
        {
            return Malformed(call);
        }

        return fs.Flush(call.Ctx, call.Node, new HandleId(flush.Fh), flush.LockOwner);
    }

    private int Release(in Call call)
    {
        if (!call.Reader.TryRead(out FuseReleaseIn release))
        {
            return Malformed(call);
        }

        bool releaseFlock = (release.ReleaseFlags & FuseConstants.ReleaseFlockUnlock) != 0;
        return fs.Release(call.Ctx, call.Node, new HandleId(release.Fh), release.Flags, release.LockOwner, releaseFlock);
    }

    private ValueTask<int> Fsync(in Call call)
    {
        if (!call.Reader.TryRead(out FuseFsyncIn fsync))
        {
            return new(Malformed(call));
        }

        bool dataSync = (fsync.FsyncFlags & FuseConstants.FsyncFdatasync) != 0;
        return fs.Fsync(call.Ctx, call.Node, new HandleId(fsync.Fh), dataSync, call.Request.Io);
    }

    private ValueTask<int> Fallocate(in Call call)
    {
        if (!call.Reader.TryRead(out FuseFallocateIn fallocate))
        {
            return new(Malformed(call));
        }

        return fs.Fallocate(call.Ctx, call.Node, new HandleId(fallocate.Fh), fallocate.Mode, fallocate.Offset, fallocate.Length,
            call.Request.Io);
    }

    private int Lseek(in Call call)
    {
        if (!call.Reader.TryRead(out FuseLseekIn lseek))
        {
            return Malformed(call);
        }

        long offset = fs.Lseek(call.Ctx, call.Node, new HandleId(lseek.Fh), lseek.Offset, lseek.Whence);
        return offset < 0 ? FromLong(offset) : Reply(call, new FuseLseekOut { Offset = (ulong)offset });
    }

    private int CopyFileRange(in Call call)
    {
        if (!call.Reader.TryRead(out FuseCopyFileRangeIn copy))
        {
            return Malformed(call);
        }

        long count = fs.CopyFileRange(call.Ctx, call.Node, new HandleId(copy.FhIn), copy.OffIn,
            new NodeId(copy.NodeIdOut), new HandleId(copy.FhOut), copy.OffOut, copy.Len, copy.Flags);
        if (count < 0)
        {
            return FromLong(count);
        }

        // fuse_write_out.size is 32 bits; the guest asks for at most what fits (fs/fuse/file.c clamps len).
        return Reply(call, new FuseWriteOut { Size = (uint)Math.Min(count, uint.MaxValue) });
    }

    private int ReplyOpen(in Call call, in OpenResult opened, uint cacheFlags)
        => Reply(call, new FuseOpenOut { Fh = opened.Handle.Value, OpenFlags = opened.OpenFlags | cacheFlags });

    /// <summary>
    /// FOPEN_* flags the cache mode adds to every file open (as Rust virtiofsd), and with
    /// <see cref="FuseServerOptions.DirectIoForODirect"/> direct I/O for an open asking for O_DIRECT.
    /// </summary>
    private uint FileCacheFlags(uint openFlags)
    {
        uint flags = options.Cache switch
        {
            CacheMode.Never or CacheMode.Metadata => FuseConstants.FopenDirectIo,
            CacheMode.Always => FuseConstants.FopenKeepCache,
            _ => 0,
        };
        if (options.DirectIoForODirect && (openFlags & FuseConstants.ODirect) != 0)
        {
            // KEEP_CACHE would keep pages this handle never fills; direct I/O replaces it.
            flags = (flags & ~FuseConstants.FopenKeepCache) | FuseConstants.FopenDirectIo | FuseConstants.FopenParallelDirectWrites;
        }
        return flags;
    }

    /// <summary>
    /// Open flags as the host should see them: O_DIRECT only with --allow-direct-io; under the
    /// writeback cache the guest also reads pages of write-only files and appends itself, so
    /// O_WRONLY becomes O_RDWR and O_APPEND goes (both virtiofsd implementations do the same).
    /// </summary>
    private uint AdjustOpenFlags(in Call call, uint flags)
    {
        if (!options.AllowDirectIo)
        {
            flags &= ~FuseConstants.ODirect;
        }

        if (call.Session.Has(FuseInitFlags.WritebackCache))
        {
            if ((flags & FuseConstants.OAccMode) == FuseConstants.OWrOnly)
            {
                flags = (flags & ~FuseConstants.OAccMode) | FuseConstants.ORdWr;
            }

            flags &= ~FuseConstants.OAppend;
        }

        return flags;
    }

    private static bool OpensForWriting(uint flags)
        => (flags & FuseConstants.OAccMode) != FuseConstants.ORdOnly || (flags & FuseConstants.OTrunc) != 0;
}
