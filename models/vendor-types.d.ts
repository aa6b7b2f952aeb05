// Ambient types for the parts of untyped dependencies that models/ uses.

declare module '@agnai/sentencepiece-js' {
  export class SentencePieceProcessor {
    /** Loads a sentencepiece .model file (the WASM port reads it from disk). */
    load(modelPath: string): Promise<void>;
    encodePieces(text: string): string[];
  }
}
