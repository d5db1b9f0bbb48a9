"""`takeback chaos`: a realistic load through the running stack while its parts are killed, checked from
outside."""
