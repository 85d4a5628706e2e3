using System.Buffers;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Server;

// Extended attributes: SETXATTR, GETXATTR, LISTXATTR, REMOVEXATTR.
public sealed partial class FuseServer
{
    private int SetXattr(in Call call)
    {
        // setxattr_in is 16 bytes only once SETXATTR_EXT is negotiated (FUSE_COMPAT_SETXATTR_IN_SIZE otherwise).
        int headerSize = call.Session.Has(FuseInitFlags.SetXattrExt)
            ? RequestReader.SizeOf<FuseSetXattrIn>()
            : FuseConstants.CompatSetXattrInSize;
        if (!call.Reader.TryReadPrefix(headerSize, headerSize, out FuseSetXattrIn setXattr))
        {
            return Malformed(call);
        }

        if (setXattr.Size > FuseConstants.XattrSizeMax)
        {
            return -Errno.E2BIG;
        }

        if (!call.Reader.TryReadRest(FuseConstants.NameMax + 1 + FuseConstants.XattrSizeMax, out ReadOnlySpan<byte> rest))
        {
            return -Errno.E2BIG;
        }

        int result = RequestNames.TakeName(ref rest, out ReadOnlySpan<byte> name);
        if (result < 0)
        {
            return result;
        }

        if (rest.Length != setXattr.Size)
        {
            log.Warning("FUSE SETXATTR (unique {Unique}): value size {Size} but {Length} bytes follow the name",
                call.Header.Unique, setXattr.Size, rest.Length);
            return -Errno.EINVAL;
        }

        return fs.SetXattr(call.Ctx, call.Node, name, rest, setXattr.Flags);
    }

    private int GetXattr(in Call call)
    {
        if (!call.Reader.TryRead(out FuseGetXattrIn getXattr))
        {
            return Malformed(call);
        }

        int result = ReadSingleName(call, out ReadOnlySpan<byte> name);
        if (result < 0)
        {
            return result;
        }

        // The name lives in the reader's scratch buffer, untouched by the calls below.
        IFileSystem fileSystem = fs;
        NodeId node = call.Node;
        RequestContext ctx = call.Ctx;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ValueBufferSize(call, getXattr.Size));
        try
        {
            Span<byte> value = buffer.AsSpan(0, ValueBufferSize(call, getXattr.Size));
            return ReplyXattrValue(call, getXattr.Size, fileSystem.GetXattr(ctx, node, name, value), value);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private int ListXattr(in Call call)
    {
        if (!call.Reader.TryRead(out FuseGetXattrIn listXattr))
        {
            return Malformed(call);
        }

        byte[] buffer = ArrayPool<byte>.Shared.Rent(ValueBufferSize(call, listXattr.Size));
        try
        {
            Span<byte> list = buffer.AsSpan(0, ValueBufferSize(call, listXattr.Size));
            return ReplyXattrValue(call, listXattr.Size, fs.ListXattr(call.Ctx, call.Node, list), list);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private int RemoveXattr(in Call call)
    {
        int result = ReadSingleName(call, out ReadOnlySpan<byte> name);
        return result < 0 ? result : fs.RemoveXattr(call.Ctx, call.Node, name);
    }

    /// <summary>A size-0 request asks for the size needed; otherwise room for the value, capped at XATTR_SIZE_MAX and the reply area.</summary>
    private static int ValueBufferSize(in Call call, uint requested)
        => requested == 0 ? 0 : (int)Math.Min(Math.Min(requested, (uint)FuseConstants.XattrSizeMax), call.Writer.Remaining);

    private int ReplyXattrValue(in Call call, uint requested, int length, ReadOnlySpan<byte> value)
    {
        if (length < 0)
        {
            return length;
        }

        if (requested == 0)
        {
            return Reply(call, new FuseGetXattrOut { Size = (uint)length });
        }

        if (length > value.Length)
        {
            // The value does not fit what the guest offered: getxattr(2)'s ERANGE.
            return -Errno.ERANGE;
        }

        return call.Writer.TryWrite(value[..length]) ? Replied : -Errno.ERANGE;
    }
}
