using VirtioFsd.Bench.Client;
using VirtioFsd.Bench.Fuse;

namespace VirtioFsd.Bench.Workloads;

/// <summary>LOOKUP of an existing name, then GETATTR of the node it returned: one operation, two requests.</summary>
public sealed class LookupGetattrProgram(ulong parent, int names, Random random) : IWorkloadProgram
{
    public Step Begin(Slot slot, RequestContext context)
    {
        string name = DataSet.NameOf(random.Next(names));
        int n = FuseRequestWriter.Named(context.Scratch, FuseOpcode.Lookup, context.NextUnique(slot), parent, name);
        context.Commit(slot, n);
        return new Step(n, 0, FuseSize.EntryOut, 0);
    }

    public bool Continue(Slot slot, RequestContext context, ReadOnlySpan<byte> replyArgs, uint replyLength, out Step next)
    {
        next = default;
        if (slot.Stage == 1)
        {
            ulong node = FuseReply.EntryNodeId(replyArgs);
            int n = FuseRequestWriter.Getattr(context.Scratch, context.NextUnique(slot), node);
            context.Commit(slot, n);
            next = new Step(n, 0, FuseSize.AttrOut, 0);
            return true;
        }
        return false;
    }
}

/// <summary>CREATE of a fresh name, RELEASE of the handle, UNLINK of the name: one operation, three requests.</summary>
public sealed class CreateUnlinkProgram(ulong parent, int queue) : IWorkloadProgram
{
    private const int CreateFlags = 0x2 | 0x40 | 0x80; // O_RDWR | O_CREAT | O_EXCL (asm-generic/fcntl.h)
    private long _counter;

    public Step Begin(Slot slot, RequestContext context)
    {
        slot.Name = $"c{queue}-{slot.Index}-{_counter++}";
        int n = FuseRequestWriter.Create(context.Scratch, context.NextUnique(slot), parent, slot.Name, CreateFlags, 0x81a4);
        context.Commit(slot, n);
        return new Step(n, 0, FuseSize.EntryOut + FuseSize.OpenOut, 0);
    }

    public bool Continue(Slot slot, RequestContext context, ReadOnlySpan<byte> replyArgs, uint replyLength, out Step next)
    {
        next = default;
        switch (slot.Stage)
        {
            case 1:
                slot.Node = FuseReply.EntryNodeId(replyArgs);
                slot.Fh = FuseReply.OpenFh(replyArgs[FuseSize.EntryOut..]);
                int r = FuseRequestWriter.Release(context.Scratch, FuseOpcode.Release, context.NextUnique(slot), slot.Node, slot.Fh, CreateFlags & 3);
                context.Commit(slot, r);
                next = new Step(r, 0, 0, 0);
                return true;
            case 2:
                int u = FuseRequestWriter.Named(context.Scratch, FuseOpcode.Unlink, context.NextUnique(slot), parent, slot.Name);
                context.Commit(slot, u);
                next = new Step(u, 0, 0, 0);
                return true;
            default:
                return false;
        }
    }
}
