using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.FileSystem;

namespace VirtioFsd.Fuse.Server;

// Directory handles: OPENDIR, READDIR, READDIRPLUS, RELEASEDIR, FSYNCDIR.
public sealed partial class FuseServer
{
    [ThreadStatic]
    private static DirectoryEntryWriter? directoryEntryWriter;

    private int OpenDir(in Call call)
    {
        if (!call.Reader.TryRead(out FuseOpenIn open))
        {
            return Malformed(call);
        }

        int result = fs.OpenDir(call.Ctx, call.Node, open.Flags, out OpenResult opened);
        // Directory listings may stay cached when metadata does (Rust virtiofsd: FOPEN_CACHE_DIR).
        uint cacheFlags = options.Cache is CacheMode.Always or CacheMode.Metadata ? FuseConstants.FopenCacheDir : 0;
        return result < 0 ? result : ReplyOpen(call, opened, cacheFlags);
    }

    private int ReadDir(in Call call, bool plus)
    {
        if (!call.Reader.TryRead(out FuseReadIn read))
        {
            return Malformed(call);
        }

        DirectoryEntryWriter sink = directoryEntryWriter ??= new DirectoryEntryWriter();
        sink.Start(call.Writer, read.Size, plus, timeouts, options.Uids, options.Gids);
        try
        {
            var handle = new HandleId(read.Fh);
            int result = plus
                ? fs.ReadDirPlus(call.Ctx, call.Node, handle, read.Offset, sink)
                : fs.ReadDir(call.Ctx, call.Node, handle, read.Offset, sink);
            return result < 0 ? result : Replied;
        }
        finally
        {
            sink.Stop();
        }
    }

    private int ReleaseDir(in Call call)
    {
        if (!call.Reader.TryRead(out FuseReleaseIn release))
        {
            return Malformed(call);
        }

        return fs.ReleaseDir(call.Ctx, call.Node, new HandleId(release.Fh));
    }

    private ValueTask<int> FsyncDir(in Call call)
    {
        if (!call.Reader.TryRead(out FuseFsyncIn fsync))
        {
            return new(Malformed(call));
        }

        bool dataSync = (fsync.FsyncFlags & FuseConstants.FsyncFdatasync) != 0;
        return fs.FsyncDir(call.Ctx, call.Node, new HandleId(fsync.Fh), dataSync, call.Request.Io);
    }
}
