using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.Server.Migration;

namespace VirtioFsd.Fuse.Server;

// Live migration: the session the guest negotiated moves to the destination daemon, which serves it without an INIT.
public sealed partial class FuseServer
{
    /// <summary>The session up now, or null (the guest has not mounted, or unmounted).</summary>
    public FuseSessionState? ExportSession()
    {
        Session? current = session;
        return current is null ? null : new FuseSessionState(current.Minor, current.Flags, maxWrite);
    }

    /// <summary>
    /// Why this server cannot go on with <paramref name="state"/>, or null: it must not have a session of its own yet,
    /// the minor must be one we speak, every flag one these options would have offered (a destination without
    /// --writeback cannot serve a guest that caches writes), and max_write not beyond ours (the guest sends WRITEs up to it).
    /// </summary>
    public string? CheckImport(FuseSessionState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (session is not null)
        {
            return "this daemon already serves a FUSE session";
        }
        if (state.Minor < FuseConstants.MinimumMinorVersion || state.Minor > FuseConstants.KernelMinorVersion)
        {
            return $"protocol 7.{state.Minor} is outside 7.{FuseConstants.MinimumMinorVersion}..7.{FuseConstants.KernelMinorVersion}";
        }
        FuseInitFlags unknown = state.Flags & ~(OfferedFlags() | FuseInitFlags.InitExt);
        if (unknown != 0)
        {
            return $"the guest negotiated {unknown}, which this daemon's options do not offer";
        }
        if (state.MaxWrite > maxWrite)
        {
            return $"the guest may send WRITEs of {state.MaxWrite} bytes, more than this daemon's {maxWrite}";
        }
        return null;
    }

    /// <summary>
    /// Takes over a session checked with <see cref="CheckImport"/>: the filesystem learns the flags (as at INIT), and every
    /// request but INIT is served from now on. Returns null, or why the filesystem does not take them.
    /// </summary>
    public string? Import(FuseSessionState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        lock (initLock)
        {
            string? problem = CheckImport(state);
            if (problem is not null)
            {
                return problem;
            }
            FuseInitFlags enabled = fs.Init(state.Flags) | (state.Flags & FuseInitFlags.InitExt);
            if (enabled != state.Flags)
            {
                return $"the filesystem does not take {state.Flags & ~enabled}";
            }
            session = new Session(state.Minor, state.Flags);
            log.Information("FUSE session taken over from the migration source: 7.{Minor}, flags {Flags}, max_write {MaxWrite}",
                state.Minor, state.Flags, state.MaxWrite);
            return null;
        }
    }
}
