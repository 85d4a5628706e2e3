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

/// <summary>
/// CREATE of a fresh name, RELEASE of the handle, UNLINK of the name, then the FORGET a guest sends when it
/// drops the unlinked inode: one operation, four requests (the FORGET without a reply). Without the FORGET
/// every created node would keep a host fd open in the daemon (the guest still "knows" it), and a fast
/// daemon ran out of descriptors within seconds; a soak would read it as a leak.
/// </summary>
public sealed class CreateUnlinkProgram(ulong parent, string namePrefix) : IWorkloadProgram
{
    private const int CreateFlags = 0x2 | 0x40 | 0x80; // O_RDWR | O_CREAT | O_EXCL (asm-generic/fcntl.h)
    private long _counter;

    public Step Begin(Slot slot, RequestContext context)
    {
        slot.Name = $"{namePrefix}-{slot.Index}-{_counter++}";
        int n = FuseRequestWriter.Create(context.Scratch, context.NextUnique(slot), parent, slot.Name, CreateFlags, 0x81a4);
        context.Commit(slot, n);
        return new Step(n, 0, FuseSize.EntryOut + FuseSize.OpenOut, 0);
    }

    public bool Continue(Slot slot, RequestContext context, ReadOnlySpan<byte> replyArgs, uint replyLength, out Step next)
    {
        next = default;
        int n;
        switch (slot.Stage)
        {
            case 1:
                slot.Node = FuseReply.EntryNodeId(replyArgs);
                slot.Fh = FuseReply.OpenFh(replyArgs[FuseSize.EntryOut..]);
                n = FuseRequestWriter.Release(context.Scratch, FuseOpcode.Release, context.NextUnique(slot), slot.Node, slot.Fh, CreateFlags & 3);
                next = new Step(n, 0, 0, 0);
                break;
            case 2:
                n = FuseRequestWriter.Named(context.Scratch, FuseOpcode.Unlink, context.NextUnique(slot), parent, slot.Name);
                next = new Step(n, 0, 0, 0);
                break;
            case 3:
                n = FuseRequestWriter.Forget(context.Scratch, context.NextUnique(slot), slot.Node, 1);
                next = new Step(n, 0, 0, 0, NoReply: true);
                break;
            default:
                return false;
        }
        context.Commit(slot, n);
        return true;
    }
}
