using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.Migration;

namespace VirtioFsd.Fuse.Server.Migration;

/// <summary>
/// What the guest negotiated at FUSE_INIT and goes on relying on after a migration without sending INIT again: the
/// protocol minor it speaks, the flags (write-back cache, READDIRPLUS, locks, submounts...) and the largest WRITE it may send.
/// </summary>
public sealed record FuseSessionState(uint Minor, FuseInitFlags Flags, uint MaxWrite)
{
    public void Write(StateWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.U32(Minor);
        writer.U64((ulong)Flags);
        writer.U32(MaxWrite);
    }

    public static FuseSessionState Read(StateReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        return new FuseSessionState(reader.U32("session minor"), (FuseInitFlags)reader.U64("session flags"), reader.U32("session max_write"));
    }
}
