using VirtioFsd.Bench.Client;
using VirtioFsd.Bench.Fuse;

namespace VirtioFsd.Bench.Soak;

/// <summary>
/// CREATE + RELEASE + UNLINK of a fresh name, then the FORGET a guest sends when it drops the dentry:
/// one operation, four requests. The measured create workload skips the FORGET (it runs for seconds); over
/// a soak every created node the guest never forgets would keep a host fd open and read as a leak.
/// </summary>
public sealed class CreateUnlinkForgetProgram(ulong parent, int queue) : IWorkloadProgram
{
    private const int CreateFlags = 0x2 | 0x40 | 0x80; // O_RDWR | O_CREAT | O_EXCL (asm-generic/fcntl.h)
    private long _counter;

    public Step Begin(Slot slot, RequestContext context)
    {
        slot.Name = $"s{queue}-{slot.Index}-{_counter++}";
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
