// The seed document's results (its "实验结果" and "模型大小对比" tables): Kaggle's Dogs vs.
// Cats at 224x224, best validation accuracy, per-class precision/recall, and the size of
// the saved model, for the six models. `report` prints them beside ours where the model matches.

export interface SeedResult {
  label: string;
  trainable: number;
  valAcc: number;
  precision: Record<string, number>;
  recall: Record<string, number>;
  checkpointMb: number;
}

export const SEED_DATA = "Dogs vs. Cats, 224x224x3 (the seed's run)";

export const SEED_RESULTS: Record<string, SeedResult> = {
  vgg16: { label: 'VGG16 (CNN)', trainable: 27_626_178, valAcc: 0.976, precision: { cat: 0.98, dog: 0.98 }, recall: { cat: 0.98, dog: 0.98 }, checkpointMb: 106 },
  lenet: { label: 'LeNet (CNN)', trainable: 5_406_606, valAcc: 0.88, precision: { cat: 0.87, dog: 0.9 }, recall: { cat: 0.9, dog: 0.86 }, checkpointMb: 21 },
  resnet18: { label: 'ResNet18 (CNN, fine-tune)', trainable: 1_026, valAcc: 0.992, precision: { cat: 0.99, dog: 0.99 }, recall: { cat: 0.99, dog: 0.99 }, checkpointMb: 43 },
  birnn: { label: 'Bi-LSTM (RNN)', trainable: 6_636_546, valAcc: 0.756, precision: { cat: 0.77, dog: 0.74 }, recall: { cat: 0.73, dog: 0.78 }, checkpointMb: 26 },
  dnn: { label: 'DNN', trainable: 38_568_578, valAcc: 0.502, precision: { cat: 0.5, dog: 1.0 }, recall: { cat: 1.0, dog: 0.0 }, checkpointMb: 148 },
  vit: { label: 'ViT-base (fine-tune)', trainable: 85_800_194, valAcc: 0.996, precision: { cat: 0.99, dog: 1.0 }, recall: { cat: 1.0, dog: 0.99 }, checkpointMb: 328 },
};
