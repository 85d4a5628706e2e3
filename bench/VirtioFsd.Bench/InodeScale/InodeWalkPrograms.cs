using System.Buffers.Binary;
using VirtioFsd.Bench.Client;
using VirtioFsd.Bench.Fuse;

namespace VirtioFsd.Bench.InodeScale;

/// <summary>
/// LOOKUP of each name in a list below its parent, then GETATTR of the node: one operation, two requests, as
/// `find -ls` costs a guest. Every reply is checked: a regular file of size 0 whose GETATTR names the inode the
/// LOOKUP did. The node ids are kept for the FORGETs.
/// </summary>
public sealed class LookupGetattrWalk(IReadOnlyList<(ulong Parent, string Name)> names) : IWorkloadProgram
{
    private const uint RegularFile = 0x8000;
    private const int EntryAttr = 40;   // fuse_attr inside fuse_entry_out
    private const int AttrOutAttr = 16; // fuse_attr inside fuse_attr_out
    private int _next;

    public ulong[] Nodes { get; } = new ulong[names.Count];

    public Step Begin(Slot slot, RequestContext context)
    {
        int i = _next++;
        slot.Fh = (ulong)i; // the name's index, for the reply
        (ulong parent, string name) = names[i];
        int n = FuseRequestWriter.Named(context.Scratch, FuseOpcode.Lookup, context.NextUnique(slot), parent, name);
        context.Commit(slot, n);
        return new Step(n, 0, FuseSize.EntryOut, 0);
    }

    public bool Continue(Slot slot, RequestContext context, ReadOnlySpan<byte> replyArgs, uint replyLength, out Step next)
    {
        next = default;
        int i = (int)slot.Fh;
        if (slot.Stage == 1)
        {
            slot.Node = FuseReply.EntryNodeId(replyArgs);
            Nodes[i] = slot.Node;
            CheckFile(replyArgs[EntryAttr..], names[i].Name);
            slot.Offset = Ino(replyArgs[EntryAttr..]);
            int n = FuseRequestWriter.Getattr(context.Scratch, context.NextUnique(slot), slot.Node);
            context.Commit(slot, n);
            next = new Step(n, 0, FuseSize.AttrOut, 0);
            return true;
        }
        CheckFile(replyArgs[AttrOutAttr..], names[i].Name);
        if (Ino(replyArgs[AttrOutAttr..]) != slot.Offset)
        {
            throw new BenchException($"GETATTR of {names[i].Name} names another inode than its LOOKUP");
        }
        return false;
    }

    private static ulong Ino(ReadOnlySpan<byte> attr) => BinaryPrimitives.ReadUInt64LittleEndian(attr);

    private static void CheckFile(ReadOnlySpan<byte> attr, string name)
    {
        ulong size = BinaryPrimitives.ReadUInt64LittleEndian(attr[8..]);
        uint mode = BinaryPrimitives.ReadUInt32LittleEndian(attr[60..]);
        if ((mode & 0xF000) != RegularFile || size != 0)
        {
            throw new BenchException($"{name}: mode {mode:x}, size {size}; expected an empty regular file");
        }
    }
}

/// <summary>FORGET (no reply) of each node once: what a guest sends when it drops its dentries.</summary>
public sealed class ForgetAll(IReadOnlyList<ulong> nodes) : IWorkloadProgram
{
    private int _next;

    public Step Begin(Slot slot, RequestContext context)
    {
        int n = FuseRequestWriter.Forget(context.Scratch, context.NextUnique(slot), nodes[_next++], 1);
        context.Commit(slot, n);
        return new Step(n, 0, 0, 0, NoReply: true);
    }

    public bool Continue(Slot slot, RequestContext context, ReadOnlySpan<byte> replyArgs, uint replyLength, out Step next)
    {
        next = default;
        return false;
    }
}
