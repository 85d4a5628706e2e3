using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Server;

// Name and inode operations: LOOKUP, FORGET, BATCH_FORGET, GETATTR, SETATTR, READLINK, SYMLINK,
// MKNOD, MKDIR, UNLINK, RMDIR, RENAME, RENAME2, LINK, STATFS, ACCESS.
public sealed partial class FuseServer
{
    /// <summary>The largest name area a request carries: SYMLINK's name and target, both NUL-terminated.</summary>
    private const int MaxNamesLength = FuseConstants.NameMax + 1 + FuseConstants.PathMax;

    private int Lookup(in Call call)
    {
        int result = ReadSingleName(call, out ReadOnlySpan<byte> name);
        if (result < 0)
        {
            return result;
        }

        result = fs.Lookup(call.Ctx, call.Node, name, out Entry entry);
        if (result == -Errno.ENOENT && negativeEntries)
        {
            // Node id 0 with a timeout: the kernel caches the miss (fuse_lookup_name, "same as -ENOENT, but with valid timeout").
            return ReplyEntry(call, default);
        }
        return result < 0 ? result : ReplyEntry(call, entry);
    }

    private int Forget(in Call call)
    {
        if (call.Reader.TryRead(out FuseForgetIn forget))
        {
            fs.Forget(call.Node, forget.Nlookup);
        }
        else
        {
            log.Warning("FUSE FORGET (unique {Unique}) without fuse_forget_in; ignored", call.Header.Unique);
        }

        return NoReply;
    }

    private int BatchForget(in Call call)
    {
        int itemSize = RequestReader.SizeOf<FuseForgetOne>();
        if (!call.Reader.TryRead(out FuseBatchForgetIn batch) || batch.Count > call.Reader.Remaining / itemSize)
        {
            log.Warning("FUSE BATCH_FORGET (unique {Unique}): count {Count} does not match {Remaining} bytes; ignored",
                call.Header.Unique, batch.Count, call.Reader.Remaining);
            return NoReply;
        }

        for (uint i = 0; i < batch.Count; i++)
        {
            call.Reader.TryRead(out FuseForgetOne one);
            fs.Forget(new NodeId(one.NodeId), one.Nlookup);
        }

        return NoReply;
    }

    private int GetAttr(in Call call)
    {
        if (!call.Reader.TryRead(out FuseGetAttrIn getAttr))
        {
            return Malformed(call);
        }

        HandleId? handle = (getAttr.GetAttrFlags & FuseConstants.GetAttrFh) != 0 ? new HandleId(getAttr.Fh) : null;
        int result = fs.GetAttr(call.Ctx, call.Node, handle, out FileAttr attr);
        return result < 0 ? result : ReplyAttr(call, attr);
    }

    private int SetAttr(in Call call)
    {
        if (!call.Reader.TryRead(out FuseSetAttrIn setAttr))
        {
            return Malformed(call);
        }

        // --translate-uid/gid: the new owner in host ids; a forbidden one may not be given to a file.
        uint uid = setAttr.Uid, gid = setAttr.Gid;
        if (((setAttr.Valid & FuseConstants.FattrUid) != 0 && !options.Uids.ToHost(setAttr.Uid, out uid))
            || ((setAttr.Valid & FuseConstants.FattrGid) != 0 && !options.Gids.ToHost(setAttr.Gid, out gid)))
        {
            return -Errno.EPERM;
        }
        var request = new SetAttrRequest
        {
            Valid = setAttr.Valid,
            Mode = setAttr.Mode,
            Uid = uid,
            Gid = gid,
            Size = setAttr.Size,
            Atime = (long)setAttr.Atime,
            Mtime = (long)setAttr.Mtime,
            AtimeNsec = setAttr.AtimeNsec,
            MtimeNsec = setAttr.MtimeNsec,
            LockOwner = setAttr.LockOwner,
        };
        HandleId? handle = (setAttr.Valid & FuseConstants.FattrFh) != 0 ? new HandleId(setAttr.Fh) : null;
        int result = fs.SetAttr(call.Ctx, call.Node, handle, request, out FileAttr attr);
        return result < 0 ? result : ReplyAttr(call, attr);
    }

    private int ReadLink(in Call call)
    {
        Span<byte> target = stackalloc byte[FuseConstants.PathMax];
        int length = fs.ReadLink(call.Ctx, call.Node, target);
        if (length < 0)
        {
            return length;
        }

        if (length > target.Length)
        {
            log.Error("IFileSystem.ReadLink returned {Length}, more than its {Size}-byte buffer", length, target.Length);
            return -Errno.EIO;
        }

        return call.Writer.TryWrite(target[..length]) ? Replied : -Errno.ERANGE;
    }

    private int Symlink(in Call call)
    {
        // fs/fuse/dir.c fuse_symlink: the entry name first, then the link target.
        if (!call.Reader.TryReadRest(MaxNamesLength, out ReadOnlySpan<byte> rest))
        {
            return -Errno.ENAMETOOLONG;
        }

        int result = RequestNames.TakeName(ref rest, out ReadOnlySpan<byte> name);
        if (result < 0 || (result = RequestNames.TakeLinkTarget(ref rest, out ReadOnlySpan<byte> target)) < 0
            || (result = RequestNames.End(rest)) < 0)
        {
            return result;
        }

        result = fs.Symlink(call.Ctx, target, call.Node, name, out Entry entry);
        return result < 0 ? result : ReplyEntry(call, entry);
    }

    private int Mknod(in Call call)
    {
        if (!call.Reader.TryRead(out FuseMknodIn mknod))
        {
            return Malformed(call);
        }

        int result = ReadSingleName(call, out ReadOnlySpan<byte> name);
        if (result < 0)
        {
            return result;
        }

        result = fs.Mknod(WithUmask(call, mknod.Umask), call.Node, name, mknod.Mode, mknod.Rdev, out Entry entry);
        return result < 0 ? result : ReplyEntry(call, entry);
    }

    private int Mkdir(in Call call)
    {
        if (!call.Reader.TryRead(out FuseMkdirIn mkdir))
        {
            return Malformed(call);
        }

        int result = ReadSingleName(call, out ReadOnlySpan<byte> name);
        if (result < 0)
        {
            return result;
        }

        result = fs.Mkdir(WithUmask(call, mkdir.Umask), call.Node, name, mkdir.Mode, out Entry entry);
        return result < 0 ? result : ReplyEntry(call, entry);
    }

    private int Unlink(in Call call)
    {
        int result = ReadSingleName(call, out ReadOnlySpan<byte> name);
        return result < 0 ? result : fs.Unlink(call.Ctx, call.Node, name);
    }

    private int Rmdir(in Call call)
    {
        int result = ReadSingleName(call, out ReadOnlySpan<byte> name);
        return result < 0 ? result : fs.Rmdir(call.Ctx, call.Node, name);
    }

    private int Rename(in Call call, bool withFlags)
    {
        ulong newDir;
        uint flags = 0;
        if (withFlags)
        {
            if (!call.Reader.TryRead(out FuseRename2In rename2))
            {
                return Malformed(call);
            }

            newDir = rename2.NewDir;
            flags = rename2.Flags;
        }
        else
        {
            if (!call.Reader.TryRead(out FuseRenameIn rename))
            {
                return Malformed(call);
            }

            newDir = rename.NewDir;
        }

        if (!call.Reader.TryReadRest(MaxNamesLength, out ReadOnlySpan<byte> rest))
        {
            return -Errno.ENAMETOOLONG;
        }

        int result = RequestNames.TakeName(ref rest, out ReadOnlySpan<byte> oldName);
        if (result < 0 || (result = RequestNames.TakeName(ref rest, out ReadOnlySpan<byte> newName)) < 0
            || (result = RequestNames.End(rest)) < 0)
        {
            return result;
        }

        return fs.Rename(call.Ctx, call.Node, oldName, new NodeId(newDir), newName, flags);
    }

    private int Link(in Call call)
    {
        if (!call.Reader.TryRead(out FuseLinkIn link))
        {
            return Malformed(call);
        }

        int result = ReadSingleName(call, out ReadOnlySpan<byte> newName);
        if (result < 0)
        {
            return result;
        }

        // The header's node is the new parent; link_in names the existing inode.
        result = fs.Link(call.Ctx, new NodeId(link.OldNodeId), call.Node, newName, out Entry entry);
        return result < 0 ? result : ReplyEntry(call, entry);
    }

    private int StatFs(in Call call)
    {
        int result = fs.StatFs(call.Ctx, call.Node, out StatFs stat);
        if (result < 0)
        {
            return result;
        }

        var reply = new FuseStatFsOut
        {
            St = new FuseKstatfs
            {
                Blocks = stat.Blocks,
                Bfree = stat.Bfree,
                Bavail = stat.Bavail,
                Files = stat.Files,
                Ffree = stat.Ffree,
                Bsize = stat.Bsize,
                Namelen = stat.Namelen,
                Frsize = stat.Frsize,
            },
        };
        return Reply(call, reply);
    }

    private int Access(in Call call)
    {
        if (!call.Reader.TryRead(out FuseAccessIn access))
        {
            return Malformed(call);
        }

        return fs.Access(call.Ctx, call.Node, access.Mask);
    }

    /// <summary>Reads the rest of the body as exactly one name.</summary>
    private static int ReadSingleName(in Call call, out ReadOnlySpan<byte> name)
    {
        name = default;
        if (!call.Reader.TryReadRest(MaxNamesLength, out ReadOnlySpan<byte> rest))
        {
            return -Errno.ENAMETOOLONG;
        }

        int result = RequestNames.TakeName(ref rest, out name);
        return result < 0 ? result : RequestNames.End(rest);
    }

    /// <summary>
    /// The umask travels to the filesystem only under DONT_MASK; otherwise the guest has applied it to
    /// the mode already (fs/fuse/dir.c) and applying it again must not be asked for.
    /// </summary>
    private static RequestContext WithUmask(in Call call, uint umask)
        => call.Session.Has(FuseInitFlags.DontMask) ? call.Ctx with { Umask = umask } : call.Ctx;
}
