/** The service the benchmark runs in a service process: the chat example. */
export { chatService } from "../src/services/chat.ts";
