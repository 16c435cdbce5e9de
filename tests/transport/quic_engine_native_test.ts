import { quicHarness } from "../_quic_harness.ts";
import { runTransportTests } from "../_transport_suite.ts";
import { runAuthTests } from "../_auth_suite.ts";

runTransportTests(quicHarness("quic native", "native"));
runAuthTests(quicHarness("quic native", "native"));
