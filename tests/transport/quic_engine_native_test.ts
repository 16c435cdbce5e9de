import { quicHarness } from "../_quic_harness.ts";
import { runTransportTests } from "../_transport_suite.ts";

runTransportTests(quicHarness("quic native", "native"));
