namespace VirtioFsd.VhostUserFrontend;

/// <summary>One buffer a driver puts in a descriptor: guest physical address and length.</summary>
public readonly record struct DriverBuffer(ulong GuestPhysAddr, uint Length);

/// <summary>One used ring element as the driver reads it: the chain head and the bytes the device wrote.</summary>
public readonly record struct DriverUsedElement(ushort Id, uint Length);
