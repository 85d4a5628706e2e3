using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Server;

// Reply encoding shared by the handlers.
public sealed partial class FuseServer
{
    /// <summary>fuse_attr from the filesystem's attributes, owner and group as the guest sees them (--translate-uid/gid).</summary>
    internal static FuseAttr ToWire(in FileAttr attr, IdTranslation uids, IdTranslation gids) => new()
    {
        Ino = attr.Ino,
        Size = attr.Size,
        Blocks = attr.Blocks,
        Atime = (ulong)attr.Atime,
        Mtime = (ulong)attr.Mtime,
        Ctime = (ulong)attr.Ctime,
        AtimeNsec = attr.AtimeNsec,
        MtimeNsec = attr.MtimeNsec,
        CtimeNsec = attr.CtimeNsec,
        Mode = attr.Mode,
        Nlink = attr.Nlink,
        Uid = uids.ToGuest(attr.Uid),
        Gid = gids.ToGuest(attr.Gid),
        Rdev = attr.Rdev,
        BlkSize = attr.BlkSize,
        Flags = attr.Flags,
    };

    internal static FuseEntryOut ToEntryOut(in Entry entry, EntryTimeouts timeouts, IdTranslation uids, IdTranslation gids) => new()
    {
        NodeId = entry.Node.Value,
        Generation = entry.Generation,
        EntryValid = timeouts.EntrySeconds,
        EntryValidNsec = timeouts.EntryNanoseconds,
        AttrValid = timeouts.AttrSeconds,
        AttrValidNsec = timeouts.AttrNanoseconds,
        Attr = ToWire(entry.Attr, uids, gids),
    };

    private int ReplyEntry(in Call call, in Entry entry) => Reply(call, ToEntryOut(entry, timeouts, options.Uids, options.Gids));

    private int ReplyAttr(in Call call, in FileAttr attr) => Reply(call, new FuseAttrOut
    {
        AttrValid = timeouts.AttrSeconds,
        AttrValidNsec = timeouts.AttrNanoseconds,
        Attr = ToWire(attr, options.Uids, options.Gids),
    });

    /// <summary>Appends a struct to the reply; ERANGE if it does not fit (checked up front for fixed replies).</summary>
    private static int Reply<T>(in Call call, in T body)
        where T : unmanaged
        => call.Writer.TryWrite(body) ? Replied : -Errno.ERANGE;

    /// <summary>A body shorter than the opcode's struct: EINVAL and a log line.</summary>
    private int Malformed(in Call call)
    {
        log.Warning("FUSE {Opcode} (unique {Unique}): body of {Length} bytes is too short",
            (FuseOpcode)call.Header.Opcode, call.Header.Unique, call.Header.Len - InHeaderSize);
        return -Errno.EINVAL;
    }
}
